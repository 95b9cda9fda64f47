"""Budgets: Lighthouse results, lighthouserc assertions, budget.json, bundle budgets,
baselines and regressions, and the Lighthouse CI server API."""
