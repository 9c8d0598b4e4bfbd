#!/bin/sh
# Writes a busybox root filesystem tarball built from Debian's static
# busybox (package busybox-static) to the file given as the only argument.
# Import it with: berth import -c 'CMD ["sh"]' FILE busybox:latest
set -eu

out=${1:?usage: busybox-rootfs.sh OUTPUT.tar}
busybox=${BUSYBOX:-/bin/busybox}
if ! "$busybox" --list >/dev/null 2>&1; then
	echo "busybox-rootfs.sh: $busybox is not a busybox binary; install busybox-static" >&2
	exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" \
	"$root/tmp" "$root/root" "$root/home" "$root/var/www" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
bin:x:2:
nogroup:x:65534:
GROUP

tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$out" .
