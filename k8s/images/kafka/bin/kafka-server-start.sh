#!/bin/sh
# kafka-server-start.sh SERVER_PROPERTIES
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"
