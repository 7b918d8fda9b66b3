#!/bin/sh
# kafka-storage.sh format|random-uuid|info ... (formats the KRaft log directory)
KAFKA_HEAP_OPTS=-Xmx128m exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
