internal import Foundation

/// A started job, wherever it runs: a local child process or a pod of an Argo Workflow.
///
/// The supervisor reads its output into the run's log, waits for its end, stops it when the run is cancelled,
/// times out or loses its lease, and releases it once its result has been read.
protocol RunningJob: Sendable {
    /// What the logs call it: a process id or a Workflow name.
    var label: String { get }
    /// Everything the job prints, until it ends.
    func output() -> AsyncStream<[UInt8]>
    /// How it ended; the same answer every time.
    func wait() async -> JobProcess.Termination
    /// Ends it: SIGTERM then SIGKILL after `grace` for a process, deletion for a Workflow.
    func stop(grace: Duration) async
    /// Frees what is left once the result has been read (a finished Workflow); files are not touched.
    func release() async
}

/// Starts jobs: writes nothing itself, the job writes its sealed files into `envelope.outputDirectory`.
protocol JobExecutor: Sendable {
    /// Starts `envelope`'s job with `environment` (already filtered to what a job may see).
    func start(
        envelope: JobEnvelope, environment: [String: String], workDirectory: String
    ) async throws
        -> any RunningJob
}

/// Runs `outpost run-job` as a child process with resource limits, the envelope on its stdin.
struct LocalJobExecutor: JobExecutor {
    /// The program and its arguments (`outpost run-job`, possibly inside bubblewrap).
    let executable: String
    let arguments: [String]
    let limits: JobProcess.Limits

    func start(
        envelope: JobEnvelope, environment: [String: String], workDirectory: String
    ) async throws
        -> any RunningJob
    {
        try JobProcess(
            executable: executable, arguments: arguments, environment: environment, workingDirectory: workDirectory,
            limits: limits, input: Array(try JSONEncoder().encode(envelope)))
    }
}

extension JobProcess: RunningJob {
    var label: String { "pid \(pid)" }

    func release() async {}
}
