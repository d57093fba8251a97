import OutpostProtocol

/// How a reported audit ledger head changes what the control plane knows of an agent's ledger; shared by both
/// stores, which only read and write the result in one transaction.
enum AuditHeadComparison {
    /// Keeps the longest head; a shorter one, or one of the same length with another hash, records a problem (the
    /// first problem is kept: it is the one an operator must look into).
    static func apply(_ head: AuditHead, to agent: inout AgentRecord, now: Timestamp) {
        guard let known = agent.auditHead else {
            agent.auditHead = head
            return
        }
        let problem: String
        if head.sequence > known.sequence {
            agent.auditHead = head
            return
        } else if head.sequence == known.sequence {
            guard head.hash != known.hash else { return }
            problem =
                "at \(now.rfc3339) the agent's audit ledger ended in entry \(head.sequence) with another hash than "
                + "the one it reported before (\(known.hash.prefix(12))…): its newest entry was rewritten"
        } else {
            problem =
                "at \(now.rfc3339) the agent reported an audit ledger of \(head.sequence) entries, but it had reported "
                + "\(known.sequence) (last hash \(known.hash.prefix(12))…): entries were removed"
        }
        if agent.auditProblem == nil { agent.auditProblem = problem }
    }
}
