from django import forms
from django.contrib import admin

from apps.shares.models import GlobalShare
from apps.shares.services.tree import ShareTreeError, shares_with_change, validate_tree


class GlobalShareForm(forms.ModelForm):
    """A change is checked against the whole stored tree with the loader's own validator."""

    class Meta:
        model = GlobalShare
        fields = (
            "name",
            "parent",
            "value",
            "rank",
            "prodsourcelabel",
            "workinggroup",
            "campaign",
            "processingtype",
            "vo",
            "queue_cap",
            "running_cap",
            "throttled",
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = GlobalShare(pk=self.instance.pk)
        for field in self._meta.model._meta.concrete_fields:
            if field.name in cleaned:
                setattr(candidate, field.name, cleaned[field.name])
        try:
            validate_tree(shares_with_change(candidate))
        except ShareTreeError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned


@admin.register(GlobalShare)
class GlobalShareAdmin(admin.ModelAdmin):
    form = GlobalShareForm
    list_display = ("name", "parent", "value", "rank", "prodsourcelabel", "queue_cap", "running_cap", "throttled")
    list_filter = ("throttled",)
    search_fields = ("name",)
    ordering = ("parent__name", "rank", "name")
