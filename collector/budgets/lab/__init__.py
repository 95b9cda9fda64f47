"""Lab budgets: LHRs, lighthouserc assertions, budget.json, bundles, and the budget check."""
