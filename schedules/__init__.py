"""LR schedules as pytrees, their JSON specs and their exports to trainers."""
