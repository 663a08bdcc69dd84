-- Argo CD health of a tradeplane.io TradingStrategy, read from the status the operator writes.
--
-- Argo CD runs this with only the base, table and a reduced os library (no string library),
-- in Lua 5.1, so it uses nothing else. The checks, in order:
--   1. a status older than the spec says nothing about the spec: Progressing;
--   2. Stalled=True, or Ready=False with a reason that will not clear without a change to the
--      spec, a Secret or a referenced object: Degraded;
--   3. trading halted (spec.suspend, spec.tradingState Halted, or a limit the runtime tripped):
--      Suspended;
--   4. Ready=True: Healthy, unless the BrokerAccount is not ready: then Progressing, as the
--      strategy waits for it (the account's own health says whether that is for good);
--   5. anything else (Ready=False while rolling out, no Ready yet): Progressing.
--
-- A failed last backup (BackupSucceeded=False, reason LastBackupFailed) makes 4 and 5
-- Degraded, their message followed by the failure: the trader goes on trading, so the message
-- says both, but nothing is being backed up and the condition stays False until a backup
-- succeeds, so Healthy would hide it and Progressing would promise a Healthy that cannot come
-- while it stands. It does not outrank 1 to 3: an old status has not judged the spec yet
-- (which may hold the fix); a stalled strategy is already Degraded, and its message names what
-- blocks the reconcile, the thing to fix first; a halt is the kill switch or a tripped risk
-- limit, which the engineer on call must keep seeing as Suspended, so the failure only joins
-- its message.
-- NoBackupYet (False before the first backup) is no failure, and without spec.backup the
-- condition is a leftover the operator no longer updates, so both are ignored.

-- The reasons the operator sets with Stalled=True: each needs someone to change something.
local terminal = {
  BrokerAccountNotFound = true,
  AgentPoolNotFound = true,
  CredentialsMissing = true,
  SecretNotFound = true,
  SecretKeyMissing = true,
  InvalidConfiguration = true,
}

local function condition(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

-- "Reason: message", or just the reason when the message is empty.
local function describe(c)
  if c.message == nil or c.message == "" then
    return c.reason or c.type
  end
  return (c.reason or c.type) .. ": " .. c.message
end

local hs = {}
local spec = obj.spec or {}
local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local ready = condition(status.conditions, "Ready")
local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end
if ready ~= nil and ready.status == "False" and terminal[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

local backup = condition(status.conditions, "BackupSucceeded")
local backup_failure = nil
if spec.backup ~= nil and backup ~= nil and backup.status == "False" and backup.reason == "LastBackupFailed" then
  backup_failure = describe(backup)
end

-- The trading state's message, and the backup failure after it when there is one.
local function with_backup(message)
  if backup_failure == nil then
    return message
  end
  return message .. "; " .. backup_failure
end

if spec.suspend == true then
  hs.status = "Suspended"
  hs.message = with_backup("Trading halted: spec.suspend is true (the kill switch)")
  return hs
end
if spec.tradingState == "Halted" then
  hs.status = "Suspended"
  hs.message = with_backup("Trading halted: spec.tradingState is Halted")
  return hs
end
if status.tradingState == "Halted" or status.phase == "Halted" then
  hs.status = "Suspended"
  hs.message = with_backup("Trading halted by the runtime (a risk limit tripped); status.tradingState is Halted")
  return hs
end

if ready ~= nil and ready.status == "True" then
  local broker = condition(status.conditions, "BrokerReady")
  if broker ~= nil and broker.status == "False" then
    hs.status = "Progressing"
    hs.message = describe(broker)
  else
    hs.status = "Healthy"
    hs.message = describe(ready)
  end
elseif ready ~= nil then
  hs.status = "Progressing"
  hs.message = describe(ready)
else
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
end
if backup_failure ~= nil then
  hs.status = "Degraded"
  hs.message = with_backup(hs.message)
end
return hs
