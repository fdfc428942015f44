#!/usr/bin/env bash
# Builds vfioctl's Debian package with Debian's own tools: a staged tree under .build/deb/src,
# dpkg-shlibdeps for Depends, dpkg-gencontrol for DEBIAN/control (Installed-Size, version from
# the generated changelog) and `dpkg-deb --root-owner-group --build`, so every file is root's
# without fakeroot. The binaries must link the Swift runtime statically (--static-swift-stdlib):
# dpkg-shlibdeps finds no Debian package for a toolchain's libswiftCore.so and fails.
# Usage: Packaging/deb/build-deb.sh UPSTREAM_VERSION DEB_REVISION BIN_DIR MAN_DIR OUT_DIR MAINTAINER
# Prints the path of the .deb on its last line.
set -euo pipefail
umask 022
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
upstream=$1 revision=$2 bin=$3 man=$4 out=$5 maintainer=$6
version=$upstream-$revision

for f in "$bin/vfioctl" "$bin/vfio-aerd" "$man/vfioctl/vfioctl.8" "$man/vfio-aerd/vfio-aerd.8"; do
    [ -f "$f" ] || { echo "build-deb: $f is missing (make static-release man)" >&2; exit 1; }
done
built=$("$bin/vfioctl" --version)
[ "$built" = "$upstream" ] || {
    echo "build-deb: $bin/vfioctl says version $built, VFIOCtl.version says $upstream: rebuild it" >&2
    exit 1
}

# Reproducible: every date and mtime is the last commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)

src=$repo/.build/deb/src
pkg=$src/debian/vfioctl
rm -rf "$src"
mkdir -p "$pkg/DEBIAN" "$out"

# The source-package files dpkg-shlibdeps and dpkg-gencontrol read.
sed "s|@MAINTAINER@|$maintainer|" "$here/control" > "$src/debian/control"
cat > "$src/debian/changelog" <<CHANGELOG
vfioctl ($version) bookworm; urgency=medium

  * vfioctl $upstream (git $commit): vfioctl, vfio-aerd, their systemd units,
    the libvirt hook, man pages and shell completions.

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
CHANGELOG

# Binaries, stripped as dh_strip does.
for tool in vfioctl vfio-aerd; do
    install -D -m 755 "$bin/$tool" "$pkg/usr/bin/$tool"
    strip --remove-section=.comment --remove-section=.note --strip-unneeded "$pkg/usr/bin/$tool"
done

# systemd units, pointing at /usr instead of `make install`'s /usr/local.
for unit in "$repo"/systemd/*.service "$repo"/systemd/*.timer; do
    target=$pkg/lib/systemd/system/$(basename "$unit")
    install -d "$(dirname "$target")"
    sed -e 's|/usr/local/bin/|/usr/bin/|g' \
        -e 's|file:///usr/local/share/doc/vfioctl/manual.md|file:///usr/share/doc/vfioctl/manual.md.gz|g' \
        "$unit" > "$target"
    if grep -n /usr/local "$target" >&2; then
        echo "build-deb: $target still names /usr/local (see above)" >&2
        exit 1
    fi
done

# The libvirt hook and the two configuration files: conffiles (an administrator's edit or
# deletion survives upgrades; purge removes them).
install -D -m 755 "$here/hook" "$pkg/etc/libvirt/hooks/qemu.d/vfioctl"
install -D -m 644 "$repo/Docs/hook.toml.example" "$pkg/etc/vfioctl/hook.toml"
install -D -m 644 "$repo/Docs/aerd.toml.example" "$pkg/etc/vfioctl/aerd.toml"
printf '%s\n' /etc/libvirt/hooks/qemu.d/vfioctl /etc/vfioctl/aerd.toml /etc/vfioctl/hook.toml \
    > "$pkg/DEBIAN/conffiles"

# Manual pages (generated from --help by `swift package generate-manual`).
for tool in vfioctl vfio-aerd; do
    # Blank lines in the --help text become paragraph breaks (groff warns on empty input lines).
    install -d "$pkg/usr/share/man/man8"
    sed 's/^$/.Pp/' "$man/$tool/$tool.8" > "$pkg/usr/share/man/man8/$tool.8"
    gzip -9n "$pkg/usr/share/man/man8/$tool.8"
done

# Shell completions from ArgumentParser, where Debian's shells look for packaged ones.
install -d "$pkg/usr/share/bash-completion/completions" "$pkg/usr/share/zsh/vendor-completions" \
    "$pkg/usr/share/fish/vendor_completions.d"
for tool in vfioctl vfio-aerd; do
    # bash-completion sources the file: no #! line.
    "$pkg/usr/bin/$tool" --generate-completion-script bash | sed '1{/^#!/d}' \
        > "$pkg/usr/share/bash-completion/completions/$tool"
    "$pkg/usr/bin/$tool" --generate-completion-script zsh > "$pkg/usr/share/zsh/vendor-completions/_$tool"
    "$pkg/usr/bin/$tool" --generate-completion-script fish > "$pkg/usr/share/fish/vendor_completions.d/$tool.fish"
done

# Documentation.
doc=$pkg/usr/share/doc/vfioctl
install -D -m 644 "$here/copyright" "$doc/copyright"
install -m 644 "$src/debian/changelog" "$doc/changelog.Debian"
install -m 644 "$repo/Docs/manual.md" "$doc/manual.md"
gzip -9n "$doc/changelog.Debian" "$doc/manual.md"

# Maintainer scripts (no enable, no start: see postinst).
for script in postinst prerm postrm; do
    install -m 755 "$here/$script" "$pkg/DEBIAN/$script"
done

# Depends from the libraries the binaries link, then DEBIAN/control.
(
    cd "$src"
    dpkg-shlibdeps -Tdebian/vfioctl.substvars debian/vfioctl/usr/bin/vfioctl debian/vfioctl/usr/bin/vfio-aerd
    dpkg-gencontrol -pvfioctl -ldebian/changelog -cdebian/control -Tdebian/vfioctl.substvars \
        -Pdebian/vfioctl -fdebian/files
)

# md5sums of everything but the conffiles (dpkg keeps those separately), as dh_md5sums does.
(
    cd "$pkg"
    find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | LC_ALL=C sort -z \
        | xargs -0 md5sum > DEBIAN/md5sums
)
chmod 644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles" "$pkg/DEBIAN/md5sums"
find "$pkg" -type d -exec chmod 755 {} +

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$out/vfioctl_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >&2
echo "$deb"
