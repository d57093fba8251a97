import Foundation
import OutpostTesting

#if canImport(Glibc)
    import Glibc
#endif

extension AgentSetup {
    /// Writes the configuration to a file beside the data dir; returns its path.
    func writeConfiguration() throws -> String {
        let path = directory.path + "/agent.yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// A secret command for `secretStores.commands` that takes `seconds` before answering, so a job lasts a while.
func slowSecretCommand(name: String = "slow", seconds: Int, value: String = "not-a-real-password") -> String {
    """
    secretStores:
      commands:
        \(name):
          path: /bin/sh
          args: ["-c", "sleep \(seconds); echo \(value)"]
          timeout: 120s
    """
}
