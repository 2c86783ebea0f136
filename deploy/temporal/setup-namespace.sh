#!/bin/sh
# Registers the `default` namespace and Heirloom's search attributes once the server answers.
# Safe to repeat: existing ones are kept. The attributes are added only after the namespace is
# visible, so no background registration races them.
set -eu
address=${TEMPORAL_ADDRESS:-temporal:7233}
tries=0
until temporal operator cluster health --address "$address" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "Temporal at $address did not become healthy" >&2
        exit 1
    fi
    sleep 2
done
if ! temporal operator namespace describe --address "$address" --namespace default >/dev/null 2>&1; then
    temporal operator namespace create --address "$address" --namespace default --retention 168h
fi
for name in HeirloomUserId HeirloomTier HeirloomJobStatus; do
    if temporal operator search-attribute list --address "$address" --namespace default \
        | grep -qw "$name"; then
        echo "search attribute $name exists"
    else
        temporal operator search-attribute create --address "$address" --namespace default \
            --name "$name" --type Keyword
    fi
done
