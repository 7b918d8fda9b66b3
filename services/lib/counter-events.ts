/**
 * The two kinds of record on the counter-events topic (proto/…/counter_event.proto):
 * a record whose EVENT_TYPE_HEADER says BATCH_EVENT_TYPE is a CounterBatchEvent,
 * any other is a CounterEvent. Producer (the counter's relay) and consumer
 * (analytics) agree on it here.
 */
export const EVENT_TYPE_HEADER = "highgopress-event";
export const BATCH_EVENT_TYPE = "counter-batch.v1";
