"""Site-admin pages for JEDI: the retry-module rules (editable, validated like ``load_retry_rules``) and
tasks and their datasets (read-only: a task's state moves only through ``task_change_status``)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from apps.jedi.models import RetryRule, Task, TaskDataset
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
