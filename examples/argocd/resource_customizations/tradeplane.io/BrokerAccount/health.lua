-- Argo CD health of a tradeplane.io BrokerAccount, read from the status the operator writes.
--
-- Argo CD runs this with only the base, table and a reduced os library (no string library),
-- in Lua 5.1, so it uses nothing else. The checks, in order:
--   1. a status older than the spec says nothing about the spec: Progressing;
--   2. Stalled=True, or Ready=False with a reason that will not clear without a change to the
--      spec, the credentials Secret or the account at the broker: Degraded;
--   3. Ready=True: Healthy;
--   4. anything else (the broker unreachable and being retried, no Ready yet): Progressing.
-- An account has nothing to suspend; its strategies are halted one by one.

-- The reasons the operator sets with Stalled=True: each needs someone to change something.
local terminal = {
  CredentialsMissing = true,
  SecretNotFound = true,
  SecretKeyMissing = true,
  SecretKeyInvalid = true,
  CredentialsRejected = true,
  UnexpectedResponse = true,
  AccountBlocked = true,
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

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for the Ready condition"
end
return hs
