"""Scheduling service: 检查组组建、任务派发与接收、检查日程、汇总上报。"""
