"""The fleet engine: subjects, codec, the command service and client, the outbox publisher and
consumer, heartbeats and liveness. Knows NATS and the core; knows no chat platform."""
