// The Agent module is the outbound-only daemon behind `outpost agent`: it claims runs from the control plane,
// keeps their leases, runs each job in an isolated child process, and delivers what the job extracted.
