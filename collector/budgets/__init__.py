"""Budgets: ``lab`` (Lighthouse results, lighthouserc assertions, budget.json, bundle
budgets, the budget check), ``lhci`` (the Lighthouse CI server API, projects, builds,
statistics) and ``field`` (field budgets and regressions, lab versus field, the field
gauges); ``results`` holds what every evaluation produces."""
