"""Lab budgets: lighthouserc assertions, budget.json, bundles, lab vs field, the budget check."""
