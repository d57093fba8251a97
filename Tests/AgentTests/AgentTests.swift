// Tests of the agent against the real control plane in-process, real child processes, PostgreSQL and moto.
