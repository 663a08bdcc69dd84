-- A new spec.restartAt restarts the runtime pods (within the maintenance windows when the
-- upgrade policy is Supervised); status.lastRestartAt records the last value handled. The
-- value is the current UTC time: %H:%M:%S rather than %X, which Argo CD's os.date and C's
-- strftime do not spell the same way.
obj.spec.restartAt = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
