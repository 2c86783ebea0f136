#!/bin/sh
# Registers the `default` namespace and Heirloom's search attributes once the server answers.
# Safe to repeat: existing ones are kept. Every call to the server is retried (bounded): the
# server can still be starting, and a namespace just created takes a few seconds to reach every
# server cache. Compose runs this once, so one failed call must not end the setup.
set -eu
address=${TEMPORAL_ADDRESS:-temporal:7233}
# Seconds between tries and how many tries each step gets (the defaults: five minutes).
retry_delay_s=${SETUP_RETRY_DELAY_S:-2}
retry_tries=${SETUP_RETRY_TRIES:-150}

# wait_for DESCRIPTION COMMAND...: retry COMMAND every retry_delay_s, at most retry_tries times.
wait_for() {
    what=$1
    shift
    tries=0
    until "$@" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -ge "$retry_tries" ]; then
            echo "gave up waiting for $what" >&2
            exit 1
        fi
        sleep "$retry_delay_s"
    done
}

has_namespace() {
    temporal operator namespace describe --address "$address" --namespace default
}

add_namespace() {
    has_namespace || temporal operator namespace create --address "$address" \
        --namespace default --retention 168h
    has_namespace
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
wait_for "namespace default" add_namespace
for name in HeirloomUserId HeirloomTier HeirloomJobStatus; do
    wait_for "search attribute $name" add_attribute "$name"
    echo "search attribute $name is registered"
done
