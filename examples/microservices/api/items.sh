#!/bin/sh
echo "Content-Type: application/json"
echo
printf '{"items":['
sep=
fetch "$DATA_URL" | while read -r item; do
	[ -n "$item" ] || continue
	printf '%s"%s"' "$sep" "$item"
	sep=,
done
printf ']}\n'
