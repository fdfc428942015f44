# Sourced by vmlab.sh: fetches what the lab boots, from Debian's own archives, into the cache.
# Nothing is installed and the machine's apt sources are never changed: kernels come with
# `apt-get download` + `dpkg -x`, QEMU 10 through a private apt configuration under the cache.
# Each function prints the directory it filled, or a one-line reason on stderr and fails.

# The kernel package for a label: 6.1 is what `linux-image-amd64` depends on (Debian 12's
# default); 6.12 is the newest `linux-image-6.12.*+deb12-amd64-unsigned` (bookworm-security).
kernel_package() {
    case "$1" in
    6.1) apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -1 ;;
    6.12) apt-cache search --names-only '^linux-image-6\.12\..*\+deb12-amd64-unsigned$' 2>/dev/null | awk '{ print $1 }' | sort -V | tail -1 ;;
    *) return 1 ;;
    esac
}

# fetch_kernel LABEL: unpacks the package into $cache/kernels/KVER and prints that directory.
fetch_kernel() {
    local label=$1 package kver dir work
    package=$(kernel_package "$label")
    [ -n "$package" ] || { echo "apt-cache names no package for Linux $label (run apt-get update)" >&2; return 1; }
    kver=${package#linux-image-}
    kver=${kver%-unsigned}
    dir="$cache/kernels/$kver"
    if [ ! -f "$dir/boot/vmlinuz-$kver" ]; then
        work=$(mktemp -d "$cache/download.XXXXXX")
        if ! (cd "$work" && apt-get download "$package" > download.log 2>&1); then
            echo "apt-get download $package failed: $(tail -1 "$work/download.log")" >&2
            rm -rf "$work"
            return 1
        fi
        mkdir -p "$cache/kernels" && rm -rf "$dir"
        if ! dpkg -x "$work"/*.deb "$dir" 2> "$work/unpack.log"; then
            echo "dpkg -x of $package failed: $(tail -1 "$work/unpack.log")" >&2
            rm -rf "$work" "$dir"
            return 1
        fi
        rm -rf "$work"
    fi
    [ -f "$dir/boot/vmlinuz-$kver" ] || { echo "$package holds no boot/vmlinuz-$kver" >&2; return 1; }
    echo "$dir"
}

# The Debian archive the machine already uses (deb822 or one-line sources), for the private
# apt configuration: "URI KEYRING".
debian_archive() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk -v RS= '/Suites:[^\n]*bookworm([ \n]|$)/ && !/debian-security/ {
            uri = ""; key = "/usr/share/keyrings/debian-archive-keyring.gpg"
            n = split($0, lines, "\n")
            for (i = 1; i <= n; i++) {
                if (lines[i] ~ /^URIs:/) { split(lines[i], f, " "); uri = f[2] }
                if (lines[i] ~ /^Signed-By:/) { split(lines[i], f, " "); key = f[2] }
            }
            if (uri != "") { print uri, key; exit }
        }' "$file"
    done | head -1 | grep . && return 0
    awk '$1 == "deb" && $0 !~ /security/ && $0 ~ / bookworm / {
        for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i, "/usr/share/keyrings/debian-archive-keyring.gpg"; exit }
    }' /etc/apt/sources.list 2>/dev/null | head -1 | grep .
}

# fetch_qemu10: QEMU 10 (with the igb 82576 model) from bookworm-backports, unpacked under
# $cache/qemu10; prints that directory. The stock QEMU 7.2 stays installed for libvirtd.
fetch_qemu10() {
    local q="$cache/qemu10" apt="$cache/apt" archive uri key opts
    if [ ! -x "$q/usr/bin/qemu-system-x86_64" ]; then
        archive=$(debian_archive) || { echo "no Debian bookworm archive in the apt sources" >&2; return 1; }
        read -r uri key <<< "$archive"
        mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
        echo "deb [signed-by=$key] $uri bookworm-backports main" > "$apt/sources.list"
        opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt/lists"
            -o "Dir::Cache=$apt/cache")
        if ! apt-get "${opts[@]}" update > "$apt/update.log" 2>&1; then
            echo "apt-get update of bookworm-backports failed: $(tail -1 "$apt/update.log")" >&2
            return 1
        fi
        rm -rf "$apt/debs" && mkdir -p "$apt/debs"
        if ! (cd "$apt/debs" && apt-get "${opts[@]}" download qemu-system-x86/bookworm-backports \
            qemu-system-common/bookworm-backports qemu-system-data/bookworm-backports seabios/bookworm-backports \
            > ../download.log 2>&1); then
            echo "apt-get download of QEMU 10 failed: $(tail -1 "$apt/download.log")" >&2
            return 1
        fi
        rm -rf "$q"
        for deb in "$apt"/debs/*.deb; do
            dpkg -x "$deb" "$q" 2> "$apt/unpack.log" || { echo "dpkg -x $deb failed: $(tail -1 "$apt/unpack.log")" >&2; rm -rf "$q"; return 1; }
        done
        # Its own (empty) module directory: otherwise it loads the stock 7.2 UI modules and aborts.
        mkdir -p "$q/usr/lib/x86_64-linux-gnu/qemu"
    fi
    "$q/usr/bin/qemu-system-x86_64" --version > /dev/null 2>&1 || { echo "$q/usr/bin/qemu-system-x86_64 does not run" >&2; return 1; }
    echo "$q"
}
