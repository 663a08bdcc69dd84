-- The actions Argo CD offers on a TradingStrategy, and which of them apply to it now. Each
-- writes one spec field of the strategy's own API; the operator does the rest:
--   suspend     spec.suspend = true, the kill switch: no orders from now on, pods stay up;
--   resume      removes spec.suspend (offered only while it is true);
--   restart     spec.restartAt = now: the runtime pods restart (within the upgrade windows
--               when the upgrade policy is Supervised);
--   switchover  spec.switchoverAt = now: the leader hands over to a standby (replicas >= 2);
--   backup-now  spec.backup.backupNowAt = now: a backup outside the schedule (needs
--               spec.backup, which names the destination);
--   promote-shadow  the annotation tradeplane.io/promote-shadow = the shadow's revision
--               (offered only while status.rollout.verdict is Succeeded);
--   abort-shadow    the annotation tradeplane.io/abort-shadow = the shadow's revision
--               (offered only while a shadow is Seeding, Running or Succeeded).
local actions = {}
local spec = obj.spec or {}
local suspended = spec.suspend == true
local rollout = (obj.status or {}).rollout or {}
local verdict = rollout.verdict
local passed = verdict == "Succeeded" and rollout.shadowRevision ~= nil
local shadowing = (verdict == "Seeding" or verdict == "Running" or passed) and rollout.shadowRevision ~= nil
local standbys = spec.replicas ~= nil and spec.replicas >= 2

actions["suspend"] = { ["disabled"] = suspended, ["displayName"] = "Suspend trading" }
actions["resume"] = { ["disabled"] = not suspended, ["displayName"] = "Resume trading" }
actions["restart"] = { ["disabled"] = false, ["displayName"] = "Restart runtime pods" }
actions["switchover"] = { ["disabled"] = not standbys, ["displayName"] = "Switch over to a standby" }
actions["backup-now"] = { ["disabled"] = spec.backup == nil, ["displayName"] = "Back up now" }
actions["promote-shadow"] = { ["disabled"] = not passed, ["displayName"] = "Promote the shadow revision" }
actions["abort-shadow"] = { ["disabled"] = not shadowing, ["displayName"] = "Abort the shadow revision" }
return actions
