-- A new spec.backup.backupNowAt takes a backup outside the schedule; status.lastBackupNowAt
-- records the last value handled. spec.backup names where backups go, so it must exist.
if obj.spec.backup == nil then
  error("backup-now needs spec.backup: set spec.backup.destination first")
end
obj.spec.backup.backupNowAt = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
