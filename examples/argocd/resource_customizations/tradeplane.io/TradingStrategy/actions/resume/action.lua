-- Undoes `suspend`. The field is removed rather than set to false, so that a strategy whose
-- manifest in Git does not mention it ends up exactly as Git describes it.
obj.spec.suspend = nil
return obj
