// The ControlPlane module is `outpost server`: the agent API v1, the admin API and web UI, the run queue
// with leases, and ingestion into the catalog. Storage sits behind the repository protocols in `Storage/`,
// with SQLite (the single-machine default) and PostgreSQL (several replicas) implementations that pass one
// conformance suite. Only this module imports Hummingbird.
