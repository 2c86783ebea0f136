#!/bin/sh
# Registers the `default` namespace and Heirloom's search attributes once the server answers.
# Safe to repeat: existing ones are kept. A namespace just created can take a few seconds to
# reach every server cache, so each attribute is retried until it is listed (bounded).
set -eu
address=${TEMPORAL_ADDRESS:-temporal:7233}

# wait_for DESCRIPTION COMMAND...: retry COMMAND every 2 s, at most 60 times.
wait_for() {
    what=$1
    shift
    tries=0
    until "$@" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ]; then
            echo "gave up waiting for $what" >&2
            exit 1
        fi
        sleep 2
    done
}

has_attribute() {
    temporal operator search-attribute list --address "$address" --namespace default | grep -qw "$1"
}

add_attribute() {
    has_attribute "$1" || temporal operator search-attribute create --address "$address" \
        --namespace default --name "$1" --type Keyword
    has_attribute "$1"
}

wait_for "Temporal at $address" temporal operator cluster health --address "$address"
if ! temporal operator namespace describe --address "$address" --namespace default >/dev/null 2>&1; then
    temporal operator namespace create --address "$address" --namespace default --retention 168h
fi
wait_for "namespace default" temporal operator namespace describe --address "$address" --namespace default
for name in HeirloomUserId HeirloomTier HeirloomJobStatus; do
    wait_for "search attribute $name" add_attribute "$name"
    echo "search attribute $name is registered"
done
