#!/bin/sh
# Runs a Kafka class on the jars in /opt/kafka/libs, logging to stdout.
# KAFKA_HEAP_OPTS and KAFKA_OPTS are honoured as in Kafka's own scripts.
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true -Dlog4j2.configurationFile=file:/opt/kafka/config/log4j2.properties \
  ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"
