from django import forms
from django.contrib import admin

from apps.sites.models import DOCUMENT_COLUMNS, PandaQueue, ResourceType, Site, StorageEndpoint
from apps.sites.services.queues import queue_document_site, queue_document_validate
from apps.sites.services.storage_endpoints import storage_endpoint_validate


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "cloud", "tier", "country", "role")
    list_filter = ("cloud", "tier", "role")
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


class StorageEndpointForm(forms.ModelForm):
    """Checked with the storage-endpoint loader's own validator (protocols, activities, types)."""

    class Meta:
        model = StorageEndpoint
        fields = (
            "name",
            "site",
            "type",
            "state",
            "is_deterministic",
            "is_tape",
            "rprotocols",
            "arprotocols",
            "resource",
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        document = {key: cleaned.get(key) for key in self.Meta.fields if key not in ("name", "site")}
        document["site"] = cleaned["site"].name
        for error in storage_endpoint_validate(document, name=cleaned["name"]):
            self.add_error(None, error)
        return cleaned


@admin.register(StorageEndpoint)
class StorageEndpointAdmin(admin.ModelAdmin):
    form = StorageEndpointForm
    list_display = ("name", "site", "type", "state", "is_tape")
    list_filter = ("type", "state", "is_tape")
    search_fields = ("name", "site__name")


@admin.register(ResourceType)
class ResourceTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "mincore", "maxcore", "minrampercore", "maxrampercore")
