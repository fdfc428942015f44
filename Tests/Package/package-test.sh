#!/usr/bin/env bash
# vfioctl's Debian package, without installing anything on this machine:
#  1. lintian reports no error (E:) on the .deb; its summary is printed;
#  2. the archive holds the binaries, units, hook, conffiles, man pages, completions and
#     copyright, every file root's;
#  3. it installs into a throw-away dpkg root (dpkg --root, maintainer scripts run chrootless
#     with DPKG_ROOT set, so they enable, start and reload nothing here);
#  4. the installed vfioctl inspects the bundled seed snapshot, and the hook execs it;
#  5. systemd-analyze verify accepts every unit inside that root (ExecStart binaries present),
#     and the metrics service's command writes a textfile promtool accepts;
#  6. an edited conffile survives reinstalling; `dpkg --remove` keeps the conffiles and takes
#     the timer's metrics file away,
#     `dpkg --purge` then leaves nothing of the package:
#     the root's file list equals the one before installing.
# Prints `PACKAGE <check> PASS|FAIL …` and `N passed, M failed`; exits 1 on any failure.
# Usage: Tests/Package/package-test.sh PATH/TO/vfioctl_VERSION_ARCH.deb
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
seed=$repo/Tests/Fixtures/snapshots/seed-host.tar.gz
work=$(mktemp -d /tmp/vfioctl-package-XXXXXX)
root=$work/root
passed=0
failed=0
trap 'rm -rf "$work"' EXIT

result() { # check-name status detail
    if [ "$2" = 0 ]; then
        echo "PACKAGE $1 PASS${3:+ $3}"
        passed=$((passed + 1))
    else
        echo "PACKAGE $1 FAIL${3:+ $3}"
        failed=$((failed + 1))
    fi
}

in_root_dpkg() {
    dpkg --root="$root" --log="$work/dpkg.log" --force-not-root --force-script-chrootless \
        --force-depends --force-unsafe-io "$@"
}

# The root's files outside dpkg's own database, for the before/after comparison.
file_list() {
    (cd "$root" && find . -mindepth 1 ! -path './var/lib/dpkg' ! -path './var/lib/dpkg/*' | LC_ALL=C sort)
}

[ -f "$deb" ] || { echo "PACKAGE deb FAIL $deb does not exist (make deb)"; exit 1; }

# 1. lintian.
lintian --no-tag-display-limit --info "$deb" > "$work/lintian.txt" 2>&1
errors=$(grep -c '^E:' "$work/lintian.txt")
warnings=$(grep -c '^W:' "$work/lintian.txt")
grep -E '^(E|W):' "$work/lintian.txt" | sed 's/^/  lintian: /'
result lintian "$([ "$errors" = 0 ] && echo 0 || echo 1)" "($errors errors, $warnings warnings)"

# 2. contents.
dpkg-deb --contents "$deb" > "$work/contents.txt"
missing=""
for path in ./usr/bin/vfioctl ./usr/bin/vfio-aerd \
    ./lib/systemd/system/vfioctl-apply.service ./lib/systemd/system/vfio-aerd.service \
    ./lib/systemd/system/vfioctl-metrics.service ./lib/systemd/system/vfioctl-metrics.timer \
    ./etc/libvirt/hooks/qemu.d/vfioctl ./etc/vfioctl/hook.toml ./etc/vfioctl/aerd.toml \
    ./usr/share/man/man8/vfioctl.8.gz ./usr/share/man/man8/vfio-aerd.8.gz \
    ./usr/share/bash-completion/completions/vfioctl ./usr/share/zsh/vendor-completions/_vfioctl \
    ./usr/share/fish/vendor_completions.d/vfioctl.fish \
    ./usr/share/doc/vfioctl/copyright ./usr/share/doc/vfioctl/changelog.Debian.gz; do
    awk '{print $6}' "$work/contents.txt" | grep -qxF "$path" || missing="$missing $path"
done
result contents "$([ -z "$missing" ] && echo 0 || echo 1)" "${missing:+missing:$missing}"
not_root=$(awk '$2 != "root/root"' "$work/contents.txt")
result owner "$([ -z "$not_root" ] && echo 0 || echo 1)" "${not_root:+not root/root: $not_root}"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | LC_ALL=C sort | tr '\n' ' ')
expected="/etc/libvirt/hooks/qemu.d/vfioctl /etc/vfioctl/aerd.toml /etc/vfioctl/hook.toml "
result conffiles "$([ "$conffiles" = "$expected" ] && echo 0 || echo 1)" "($conffiles)"

# 3. install into an empty dpkg root.
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
# systemd's own state directory, present on every system that has it: deb-systemd-helper keeps
# the units' state below it and leaves the directory itself when purging.
mkdir -p "$root/var/lib/systemd"
file_list > "$work/before.txt"
in_root_dpkg --install "$deb" > "$work/install.txt" 2>&1
status=$?
state=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Status}' vfioctl 2>/dev/null)
[ "$status" = 0 ] && [ "$state" = "install ok installed" ] || { cat "$work/install.txt"; status=1; }
result install "$status" "($state)"

# 4. the installed binaries.
out=$("$root/usr/bin/vfioctl" inspect --snapshot "$seed" 2>&1)
status=$?
echo "$out" | grep -q '82576' || status=1
result inspect "$status" "($(echo "$out" | wc -l) lines from $root/usr/bin/vfioctl)"
"$root/usr/bin/vfio-aerd" --help > /dev/null 2>&1
result aerd-runs $?
hook=$root/etc/libvirt/hooks/qemu.d/vfioctl
[ -x "$hook" ] && sh -n "$hook" && grep -q '^exec /usr/bin/vfioctl hook libvirt "\$@"$' "$hook"
result hook $?
[ "$(gzip -dc "$root/usr/share/man/man8/vfioctl.8.gz" | head -c 2)" != "" ] \
    && bash -n "$root/usr/share/bash-completion/completions/vfioctl"
result man-completion $?

# 5. the units. The throw-away root has no systemd (sysinit.target, /bin/kill), so each unit is
# verified against this machine's systemd with its /usr/bin commands pointed into the root:
# every ExecStart binary must be the installed one, and present.
mkdir -p "$work/units"
for unit in vfioctl-apply.service vfio-aerd.service vfioctl-metrics.service vfioctl-metrics.timer; do
    installed=$root/lib/systemd/system/$unit
    sed "s|^\(Exec[A-Za-z]*=\)/usr/bin/|\1$root/usr/bin/|" "$installed" > "$work/units/$unit"
    case $unit in
        # A timer starts the service of its name, which must be in the package.
        *.timer) [ -f "$root/lib/systemd/system/${unit%.timer}.service" ] ;;
        *) grep -q '^ExecStart=/usr/bin/' "$installed" ;;
    esac && ! grep -q /usr/local "$installed" \
        && systemd-analyze verify --man=no "$work/units/$unit" > "$work/verify.txt" 2>&1
    status=$?
    [ "$status" = 0 ] || sed 's/^/  /' "$work/verify.txt"
    result "verify-$unit" "$status"
done

# The metrics service's own command, with the textfile directory moved under $work and the seed
# host as its source, writes a file promtool accepts.
mkdir -p "$work/textfile"
command=$(sed -n 's|^ExecStart=/usr/bin/|'"$root"'/usr/bin/|p' "$root/lib/systemd/system/vfioctl-metrics.service" \
    | sed "s|/var/lib/prometheus/node-exporter|$work/textfile|g")
$command --snapshot "$seed" > "$work/metrics.txt" 2>&1 \
    && promtool check metrics < "$work/textfile/vfioctl.prom" >> "$work/metrics.txt" 2>&1 \
    && grep -q '^vfioctl_device_verdict' "$work/textfile/vfioctl.prom"
status=$?
[ "$status" = 0 ] || sed 's/^/  /' "$work/metrics.txt"
result metrics-service-command "$status"

# 6. an edited conffile survives reinstalling, remove keeps it, purge removes everything.
echo 'hugepages = "ignore"' >> "$root/etc/vfioctl/hook.toml"
in_root_dpkg --install "$deb" > "$work/reinstall.txt" 2>&1
status=$?
[ "$status" = 0 ] && grep -q 'hugepages = "ignore"' "$root/etc/vfioctl/hook.toml" \
    && [ ! -e "$root/etc/vfioctl/hook.toml.dpkg-new" ] || { cat "$work/reinstall.txt"; status=1; }
result reinstall-keeps-edit "$status"
textfile=$root/var/lib/prometheus/node-exporter
mkdir -p "$textfile" && echo 'vfioctl_functions{verdict="blocked"} 1' > "$textfile/vfioctl.prom"  # as the timer would
in_root_dpkg --remove vfioctl > "$work/remove.txt" 2>&1
status=$?
[ "$status" = 0 ] && [ ! -e "$root/usr/bin/vfioctl" ] && grep -q 'hugepages = "ignore"' "$root/etc/vfioctl/hook.toml" \
    || { cat "$work/remove.txt"; status=1; }
result remove-keeps-conffiles "$status"
# node_exporter would serve the last metrics for ever: remove takes them away.
[ ! -e "$textfile/vfioctl.prom" ]
result remove-drops-metrics $?
rmdir "$textfile" "$root/var/lib/prometheus"  # node_exporter's directory, made above
mkdir -p "$root/var/lib/vfioctl" && touch "$root/var/lib/vfioctl/aer.db"  # as vfio-aerd would
in_root_dpkg --purge vfioctl > "$work/purge.txt" 2>&1
status=$?
file_list > "$work/after.txt"
left=$(diff "$work/before.txt" "$work/after.txt")
state=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Status}' vfioctl 2>/dev/null)
[ "$status" = 0 ] && [ -z "$left" ] && ! ls "$root/var/lib/dpkg/info/vfioctl."* > /dev/null 2>&1 \
    || { cat "$work/purge.txt"; echo "$left" | sed 's/^/  left: /'; status=1; }
result purge "$status" "(${state:-unknown to dpkg})"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
