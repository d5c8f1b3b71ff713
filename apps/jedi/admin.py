"""Site-admin pages for JEDI: the retry-module rules (editable, validated like ``load_retry_rules``) and,
read-only, tasks and their datasets (a task's state moves only through ``task_change_status``), the
task commands with their result (what the TaskCommando did with a queued ``retry``, ``kill``, ...) and
the task status history (who moved a task where, and why)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from apps.jedi.models import RetryRule, Task, TaskCommand, TaskDataset, TaskStatusLog
from apps.jedi.services.retry_module import RetryRuleError, retry_rule_validate


class RetryRuleForm(forms.ModelForm):
    class Meta:
        model = RetryRule
        fields = (
            "errorsource",
            "errorcode",
            "errordiag",
            "action",
            "parameters",
            "architecture",
            "release",
            "workqueue_id",
            "active",
            "description",
        )

    def clean(self):
        data = super().clean()
        try:
            return retry_rule_validate({name: value for name, value in data.items() if value is not None})
        except RetryRuleError as exc:
            raise ValidationError(str(exc)) from None


@admin.register(RetryRule)
class RetryRuleAdmin(admin.ModelAdmin):
    form = RetryRuleForm
    list_display = ("id", "errorsource", "errorcode", "errordiag", "action", "parameters", "active", "description")
    list_filter = ("errorsource", "action", "active")
    search_fields = ("=errorcode", "errordiag", "description")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse only: rows are written by the JEDI agents and the client API."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TaskDatasetInline(admin.TabularInline):
    model = TaskDataset
    extra = 0
    fields = ("datasetid", "type", "datasetname", "status", "nfiles", "nfilesfinished", "nfilesfailed")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("jeditaskid", "taskname", "status", "username", "prodsourcelabel", "progress", "modificationtime")
    list_filter = ("status", "prodsourcelabel")
    search_fields = ("=jeditaskid", "taskname", "username")
    inlines = [TaskDatasetInline]
    show_full_result_count = False


@admin.register(TaskDataset)
class TaskDatasetAdmin(ReadOnlyAdmin):
    list_display = ("datasetid", "task", "type", "datasetname", "status", "nfiles", "nfilesfinished", "nfilesfailed")
    list_filter = ("type", "status")
    search_fields = ("=task__jeditaskid", "datasetname")
    show_full_result_count = False


@admin.register(TaskCommand)
class TaskCommandAdmin(ReadOnlyAdmin):
    list_display = ("id", "task", "command", "status", "owner", "result", "creationtime", "donetime")
    list_filter = ("status", "command")
    search_fields = ("=task__jeditaskid", "owner")
    list_select_related = ("task",)
    show_full_result_count = False


@admin.register(TaskStatusLog)
class TaskStatusLogAdmin(ReadOnlyAdmin):
    list_display = ("id", "jeditaskid", "modificationtime", "oldstatus", "status", "attemptnr", "reason")
    list_filter = ("status",)
    search_fields = ("=jeditaskid", "reason")
    show_full_result_count = False
