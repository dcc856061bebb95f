// Stack configurations the unit tests start from; each test copies and changes one.
export const SERVER = "https://127.0.0.1:16443";

export function allModeConfig(): Record<string, any> {
  return {
    mode: "all",
    cluster: { name: "local", server: SERVER },
    stages: {
      dev: {
        namespace: "shop-dev",
        deletable: true,
        deployer: { rotation: "2026-11" },
        tiller: { enabled: true },
        releases: {
          storefront: { chart: "./charts/storefront", values: { replicaCount: 2 } },
        },
      },
    },
  };
}

export function accessModeConfig(): Record<string, any> {
  return {
    mode: "access",
    cluster: { name: "prod-eu1", server: SERVER },
    stages: { prod: { namespace: "shop-prod", tiller: { enabled: false } } },
  };
}

export function deliveryModeConfig(): Record<string, any> {
  return {
    mode: "delivery",
    cluster: { name: "prod-eu1" },
    accessStack: "prod-access",
    stages: {
      prod: {
        namespace: "shop-prod",
        releases: {
          storefront: { chart: "./charts/storefront", values: { replicaCount: 3 } },
        },
      },
    },
  };
}
