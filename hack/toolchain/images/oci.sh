# shellcheck shell=bash
# Sourced by hack/toolchain.sh: OCI image archives made from a directory, no registry, no daemon.
# One uncompressed layer, a config and a manifest in an OCI image layout (image-spec v1.1), tarred;
# `ctr images import` takes it as is and names the image from the io.containerd.image.name
# annotation. Reproducible: sorted entries, mtime 0, owner root.

# oci_image ARCHIVE NAME ROOTFS CONFIG_JSON
#   CONFIG_JSON is the image config's "config" object, e.g. {"Entrypoint":["/pause"],"User":"65535"}
oci_image() {
  local archive="$1" name="$2" rootfs="$3" config="$4" work
  work="$(mktemp -d)"; mkdir -p "$work/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$work/layer.tar" .
  local layer layer_size
  layer="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"; layer_size="$(stat -c %s "$work/layer.tar")"
  mv "$work/layer.tar" "$work/blobs/sha256/$layer"
  blob() {  # content -> prints "digest size", stores the blob
    local d; d="$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"
    printf '%s' "$1" >"$work/blobs/sha256/$d"; echo "$d ${#1}"
  }
  local cfg mf
  read -r cfg cfg_size < <(blob "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":$config,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer\"]}}")
  read -r mf mf_size < <(blob "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cfg\",\"size\":$cfg_size},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$layer\",\"size\":$layer_size}]}")
  printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$mf" "$mf_size" "$name" "${name##*:}" >"$work/index.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf "$archive" oci-layout index.json blobs
  rm -rf "$work"
}

# busybox_rootfs DIR: Debian's busybox-static and a symlink per applet under /bin.
busybox_rootfs() {
  local dir="$1" applet
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
  done
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nweb:x:101:101:web:/www:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\nweb:x:101:\n' >"$dir/etc/group"
}
