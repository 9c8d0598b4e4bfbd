#!/bin/sh
echo "Content-Type: text/html"
echo
echo "<html><body><h1>Shipyard stock</h1><ul>"
fetch "$API_URL" | tr -d '{}[]"' | sed 's/^items://' | tr ',' '\n' | while read -r item; do
	[ -n "$item" ] && echo "<li>$item</li>"
done
echo "</ul></body></html>"
