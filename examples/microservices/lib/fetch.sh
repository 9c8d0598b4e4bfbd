#!/bin/sh
# fetch HOST:PORT/PATH prints the body of an HTTP GET. It speaks HTTP/1.0
# through nc, because the wget of Debian's static busybox 1.35 segfaults
# on some requests. nc resolves service names through berth's DNS.
hostport=${1%%/*}
path=/${1#*/}
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "${hostport%%:*}" |
	nc -w 5 "${hostport%%:*}" "${hostport##*:}" |
	sed '1,/^\r*$/d'
