from django import forms
from django.contrib import admin

from apps.sites.models import DOCUMENT_COLUMNS, PandaQueue, ResourceType, Site, StorageEndpoint
from apps.sites.services.queues import queue_document_site, queue_document_validate


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "cloud", "tier")
    search_fields = ("name",)


class PandaQueueForm(forms.ModelForm):
    """The queue document is the source of truth; it is checked with the loader's own validator."""

    class Meta:
        model = PandaQueue
        fields = ("name", "site", "document")

    def clean(self):
        cleaned = super().clean()
        name, site, document = cleaned.get("name"), cleaned.get("site"), cleaned.get("document")
        if name is None or site is None or document is None:
            return cleaned
        if not isinstance(document, dict):
            self.add_error("document", "the queue document must be a JSON object")
            return cleaned
        # The form's name and site fill the identity keys a hand-written document may leave out.
        document = {"nickname": name, "panda_resource": name, "atlas_site": site.name, "site": site.name, **document}
        errors = queue_document_validate(document, name=name)
        named = queue_document_site(document)
        if named is not None and named != site.name:
            errors.append(f"queue {name!r}: the document names site {named!r} but the form {site.name!r}")
        for error in errors:
            self.add_error("document", error)
        cleaned["document"] = document
        return cleaned


@admin.register(PandaQueue)
class PandaQueueAdmin(admin.ModelAdmin):
    form = PandaQueueForm
    list_display = ("name", "site", "status", "type", "corecount", "maxrss", "maxtime")
    list_filter = ("status", "type")
    search_fields = ("name",)
    # Copied from the document on save, so editing them here would be silently undone.
    readonly_fields = tuple(dict.fromkeys(column for column, _default in DOCUMENT_COLUMNS.values())) + (
        "last_modified",
    )


@admin.register(StorageEndpoint)
class StorageEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "site", "type", "state", "is_tape")


@admin.register(ResourceType)
class ResourceTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "mincore", "maxcore", "minrampercore", "maxrampercore")
