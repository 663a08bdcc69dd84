//! What Linux's /proc says about a process the tests started.

/// Peak and current resident memory of process `pid` in KiB (`VmHWM`, `VmRSS`); `None` when
/// it is gone.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_resident_memory_within_its_peak() {
        let (peak, now) = super::memory_kib(std::process::id()).unwrap();
        assert!(now > 0 && now <= peak, "{now} KiB of a peak of {peak}");
    }
}
