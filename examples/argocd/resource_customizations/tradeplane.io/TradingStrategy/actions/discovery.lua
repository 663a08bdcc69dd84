-- The actions Argo CD offers on a TradingStrategy, and which of them apply to it now. Each
-- writes one spec field of the strategy's own API; the operator does the rest:
--   suspend     spec.suspend = true, the kill switch: no orders from now on, pods stay up;
--   resume      removes spec.suspend (offered only while it is true);
--   restart     spec.restartAt = now: the runtime pods restart (within the upgrade windows
--               when the upgrade policy is Supervised);
--   switchover  spec.switchoverAt = now: the leader hands over to a standby (replicas >= 2);
--   backup-now  spec.backup.backupNowAt = now: a backup outside the schedule (needs
--               spec.backup, which names the destination).
local actions = {}
local spec = obj.spec or {}
local suspended = spec.suspend == true
local standbys = spec.replicas ~= nil and spec.replicas >= 2

actions["suspend"] = { ["disabled"] = suspended, ["displayName"] = "Suspend trading" }
actions["resume"] = { ["disabled"] = not suspended, ["displayName"] = "Resume trading" }
actions["restart"] = { ["disabled"] = false, ["displayName"] = "Restart runtime pods" }
actions["switchover"] = { ["disabled"] = not standbys, ["displayName"] = "Switch over to a standby" }
actions["backup-now"] = { ["disabled"] = spec.backup == nil, ["displayName"] = "Back up now" }
return actions
