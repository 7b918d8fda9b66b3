#!/bin/sh
# One node of the bundled Redis Cluster (templates/redis-cluster.yaml): starts
# redis-server with the pod's addresses and, every 5 s while it runs, keeps
# the node in the cluster when pods come back changed. Redis knows its peers
# by IP and learns a changed one only when that peer reaches it; after a
# restart of every pod each calls the others at their old IPs, so none does.
# Each node also announces its pod DNS name (cluster-announce-hostname),
# which is what this script goes by:
#  - a peer that stopped answering (or lost its address when another node
#    answered at it) and whose name now points elsewhere is met there again
#    (CLUSTER MEET), which also points a replica at its primary;
#  - a replica still replicating from an address its primary left (when the
#    new one came by gossip, Redis does not re-point replication) is pointed
#    at the primary again (CLUSTER REPLICATE);
#  - a node that came back without its data (no persistent volume) joins the
#    running cluster as a replica of the primary with the fewest; once the
#    cluster has all its nodes again, every node forgets failed entries
#    without slots (the nodes replaced that way; a node that keeps its data
#    comes back under its own entry, which is not failed then);
#  - a primary left without a replica while another has two (the node above
#    chose before a failover settled) gets one of them. Redis would migrate
#    one by itself only to a primary that has had a replica before, which a
#    promoted replica has not; the chart turns its migration off, so that
#    only this rule moves replicas.
# A master without slots has no place in the bundled cluster's fixed layout,
# so a node that stays one for three rounds becomes a replica (while the
# bootstrap Job's `--cluster create` runs, its replicas are such masters for
# a few seconds).
set -u
umask 077
export REDISCLI_AUTH="${REDIS_PASSWORD:-}"
me="$POD_NAME.$HEADLESS"
statefulset=${POD_NAME%-*}

conf=/tmp/redis.conf
cp /etc/redis/redis.conf "$conf"
printf 'cluster-announce-ip %s\ncluster-announce-hostname %s\n' "$POD_IP" "$me" >> "$conf"
# The password goes into the config file on the tmpfs, never on the command line.
if [ -n "${REDIS_PASSWORD:-}" ]; then printf 'requirepass "%s"\nmasterauth "%s"\n' "$REDIS_PASSWORD" "$REDIS_PASSWORD" >> "$conf"; fi

log() { echo "cluster-heal: $*"; }
on() { host=$1; shift; redis-cli -h "$host" "$@" 2>/dev/null | tr -d '\r'; }
resolve() { getent hosts "$1" | awk '{print $1; exit}'; }

# CLUSTER NODES: id ip:port@cport,hostname flags master ping pong epoch link [slots...]
# Each step returns 1 when it changed something: the round ends there, and
# the next one starts from what the cluster says then.
join_if_alone() {
  [ "$(echo "$nodes" | wc -l)" -eq 1 ] || return 0
  echo "$nodes" | awk 'NF > 8 {exit 1}' || return 0
  i=0
  while [ "$i" -lt "$CLUSTER_SIZE" ]; do
    peer="$statefulset-$i.$HEADLESS"
    i=$((i + 1))
    [ "$peer" = "$me" ] && continue
    case $(on "$peer" cluster info) in *cluster_state:ok*) ;; *) continue ;; esac
    ip=$(resolve "$peer")
    [ -n "$ip" ] || continue
    log "alone and empty while $peer serves a cluster: meeting it at $ip"
    on 127.0.0.1 cluster meet "$ip" 6379 16379 >/dev/null
    return 1
  done
}

forget_replaced() {
  gone=$(echo "$nodes" | awk -v size="$CLUSTER_SIZE" '$3 ~ /handshake/ {next}
      $3 ~ /(^|,)fail(,|$)/ {if (NF == 8) gone[$1] = 1; next}
      {live++}
      END {if (live >= size) for (id in gone) print id}')
  [ -n "$gone" ] || return 0
  for id in $gone; do
    log "forgetting $id: failed, without slots, and the cluster whole without it"
    on 127.0.0.1 cluster forget "$id" >/dev/null
  done
  return 1
}

meet_moved() {
  moved=$(echo "$nodes" | while read -r id addr flags _ _ _ _ link _; do
    case $flags in *myself* | *handshake*) continue ;; esac
    # A link to an address nobody has anymore still reads "connected" while
    # Redis retries it, so what counts is that the peer stopped answering.
    case "$flags $link" in *fail* | *noaddr* | *disconnected) ;; *) continue ;; esac
    host=${addr#*,}
    [ "$host" = "$addr" ] || [ -z "$host" ] && continue
    ip=$(resolve "$host")
    if [ -z "$ip" ] || [ "$ip" = "${addr%%:*}" ]; then continue; fi
    echo "$id $host ${addr%%:*} $ip"
  done)
  [ -n "$moved" ] || return 0
  echo "$moved" | while read -r id host old ip; do
    log "$host ($id) moved from $old to $ip: meeting it there"
    on 127.0.0.1 cluster meet "$ip" 6379 16379 >/dev/null
  done
  return 1
}

replicate_if_empty() {
  if ! echo "$nodes" | awk '$3 ~ /myself/ && $3 ~ /master/ && NF == 8 {found = 1} END {exit !found}' ||
    [ "$(echo "$nodes" | wc -l)" -eq 1 ]; then
    empty_rounds=0
    return 0
  fi
  empty_rounds=$((empty_rounds + 1))
  [ "$empty_rounds" -ge 3 ] || return 0
  primary=$(echo "$nodes" | awk '$3 !~ /fail/ && $3 ~ /master/ && NF > 8 {replicas[$1] += 0}
      $3 !~ /fail/ && $3 ~ /slave/ {of[$4]++}
      END { for (id in replicas) if (best == "" || of[id] < of[best]) best = id; print best }')
  [ -n "$primary" ] || return 0
  log "an empty primary in a running cluster: becoming a replica of $primary"
  on 127.0.0.1 cluster replicate "$primary" >/dev/null
  return 1
}

balance_replicas() {
  target=$(echo "$nodes" | awk '$3 !~ /fail/ && $3 ~ /master/ && NF > 8 {replicas[$1] += 0}
      $3 !~ /fail/ && $3 ~ /slave/ {of[$4]++; if (last[$4] < $1) last[$4] = $1}
      $3 ~ /myself/ && $3 ~ /slave/ {me = $1; mine = $4}
      END { if (me == "" || of[mine] < 2 || last[mine] != me) exit
        for (id in replicas) if (of[id] == 0) {print id; exit} }')
  [ -n "$target" ] || return 0
  log "one of two replicas of the same primary while $target has none: replicating it instead"
  on 127.0.0.1 cluster replicate "$target" >/dev/null
  return 1
}

follow_primary() {
  replication=$(on 127.0.0.1 info replication)
  case $replication in
    *role:slave*master_link_status:down*) ;;
    *) return 0 ;;
  esac
  following=$(echo "$replication" | sed -n 's/^master_host://p')
  primary=$(echo "$nodes" | awk '$3 ~ /myself/ {print $4}')
  ip=$(echo "$nodes" | awk -v id="$primary" '$1 == id {split($2, a, ":"); print a[1]}')
  if [ -z "$ip" ] || [ "$ip" = "$following" ]; then return 0; fi
  log "replicating from $following, where $primary no longer is: following it to $ip"
  on 127.0.0.1 cluster replicate "$primary" >/dev/null
  return 1
}

heal() {
  empty_rounds=0
  while sleep 5; do
    nodes=$(on 127.0.0.1 cluster nodes)
    [ -n "$nodes" ] || continue
    join_if_alone && forget_replaced && meet_moved && replicate_if_empty && balance_replicas && follow_primary
  done
}

heal &
exec redis-server "$conf"
