# Sourced by vmlab.sh: fetches what the lab boots, from Debian's own archives, into the cache.
# Nothing is installed and the machine's apt sources are never changed: kernels come with
# `apt-get download` + `dpkg -x`, QEMU 10 through a private apt configuration under the cache.
# Each function prints the directory it filled, or a one-line reason on stderr and fails.
# Nothing else under the cache is trusted: what is there whole is used, what is not is redone.

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
# The package is unpacked beside it and moved in place whole, so an interrupted run never
# leaves a half kernel that looks cached. When the download fails (stale apt lists name a
# build the archive no longer has) a kernel of the same series already in the cache is used.
fetch_kernel() {
    local label=$1 package kver dir work cached
    package=$(kernel_package "$label")
    [ -n "$package" ] || { echo "apt-cache names no package for Linux $label (run apt-get update)" >&2; return 1; }
    kver=${package#linux-image-}
    kver=${kver%-unsigned}
    dir="$cache/kernels/$kver"
    if [ ! -f "$dir/boot/vmlinuz-$kver" ]; then
        mkdir -p "$cache/kernels"
        work=$(mktemp -d "$cache/kernels/.download.XXXXXX")
        if ! (cd "$work" && apt-get download "$package" > download.log 2>&1); then
            cached=$(ls -d "$cache/kernels/$label".[0-9]* 2>/dev/null | sort -V | tail -1)
            if [ -n "$cached" ] && [ -f "$cached/boot/vmlinuz-${cached##*/}" ]; then
                echo "apt-get download $package failed ($(tail -1 "$work/download.log")); using the cached ${cached##*/}" >&2
                rm -rf "$work"
                echo "$cached"
                return 0
            fi
            echo "apt-get download $package failed: $(tail -1 "$work/download.log")" >&2
            rm -rf "$work"
            return 1
        fi
        if ! dpkg -x "$work"/*.deb "$work/root" 2> "$work/unpack.log"; then
            echo "dpkg -x of $package failed: $(tail -1 "$work/unpack.log")" >&2
            rm -rf "$work"
            return 1
        fi
        rm -rf "$dir" && mv "$work/root" "$dir" && rm -rf "$work"
    fi
    [ -f "$dir/boot/vmlinuz-$kver" ] || { echo "$package holds no boot/vmlinuz-$kver" >&2; return 1; }
    echo "$dir"
}

# The Debian archive the machine already uses (deb822 or one-line sources), for the private
# apt configuration: "URI KEYRING". Disabled stanzas and the security archive are skipped; a
# Signed-By that is not a keyring file (an inline key) falls back to Debian's keyring.
debian_archive() {
    local file default=/usr/share/keyrings/debian-archive-keyring.gpg
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk -v RS= -v default="$default" '/Suites:[^\n]*bookworm([ \n]|$)/ && !/debian-security/ && !/Enabled: *no/ {
            uri = ""; key = default
            n = split($0, lines, "\n")
            for (i = 1; i <= n; i++) {
                if (lines[i] ~ /^URIs:/) { split(lines[i], f, " "); uri = f[2] }
                if (lines[i] ~ /^Signed-By: *\//) { split(lines[i], f, " "); key = f[2] }
            }
            if (uri != "") { print uri, key; exit }
        }' "$file"
    done | head -1 | grep . && return 0
    awk -v default="$default" '$1 == "deb" && $0 !~ /security/ && $0 ~ / bookworm / {
        key = default
        if (match($0, /signed-by=[^] ]*/)) key = substr($0, RSTART + 10, RLENGTH - 10)
        for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i, key; exit }
    }' /etc/apt/sources.list 2>/dev/null | head -1 | grep .
}

# fetch_qemu10: QEMU 10 (with the igb 82576 model) from bookworm-backports, unpacked under
# $cache/qemu10; prints that directory. The stock QEMU 7.2 stays installed for libvirtd.
# Returns 1 when it could not be downloaded, 2 when it was but does not run.
fetch_qemu10() {
    local q="$cache/qemu10" apt="$cache/apt" archive uri key opts deb
    if [ ! -x "$q/usr/bin/qemu-system-x86_64" ]; then
        archive=$(debian_archive) || { echo "no Debian bookworm archive in the apt sources" >&2; return 1; }
        read -r uri key <<< "$archive"
        mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
        echo "deb [signed-by=$key] $uri bookworm-backports main" > "$apt/sources.list"
        # The machine's apt hooks (APT::Update::Post-Invoke…, DPkg::Post-Invoke) are not ours to run.
        printf '#clear APT::Update::Pre-Invoke;\n#clear APT::Update::Post-Invoke;\n#clear APT::Update::Post-Invoke-Success;\n#clear DPkg::Post-Invoke;\n' > "$apt/apt.conf"
        opts=(-c "$apt/apt.conf" -o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=-
            -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
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
        # Unpacked beside and moved in place whole: a half-unpacked QEMU never looks cached.
        rm -rf "$apt/root"
        for deb in "$apt"/debs/*.deb; do
            dpkg -x "$deb" "$apt/root" 2> "$apt/unpack.log" || {
                echo "dpkg -x $deb failed: $(tail -1 "$apt/unpack.log")" >&2
                return 1
            }
        done
        # Its own (empty) module directory: otherwise it loads the stock 7.2 UI modules and aborts.
        mkdir -p "$apt/root/usr/lib/x86_64-linux-gnu/qemu"
        rm -rf "$q" && mv "$apt/root" "$q"
    fi
    if ! QEMU_MODULE_DIR="$q/usr/lib/x86_64-linux-gnu/qemu" "$q/usr/bin/qemu-system-x86_64" --version > "$apt/version.log" 2>&1; then
        echo "$q/usr/bin/qemu-system-x86_64 does not run: $(tail -1 "$apt/version.log")" >&2
        return 2
    fi
    echo "$q"
}
