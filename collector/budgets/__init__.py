"""Budgets: ``lab`` (lighthouserc assertions, budget.json, bundle budgets, lab regressions,
lab versus field, and the budget check), ``lhci`` (the Lighthouse CI server API, projects,
builds, statistics) and ``field`` (field budgets and the daily field regression check).

``lhr`` (Lighthouse results) and ``results`` (what evaluating a budget produces) are
shared. The arrows run one way: lab imports field and lhci, and all three the shared
modules; lhci and field import neither lab nor each other.
"""
