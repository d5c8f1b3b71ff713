from django.contrib import admin

from apps.sites.models import PandaQueue, ResourceType, Site, StorageEndpoint


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "cloud", "tier")
    search_fields = ("name",)


@admin.register(PandaQueue)
class PandaQueueAdmin(admin.ModelAdmin):
    list_display = ("name", "site", "status", "type", "corecount", "maxrss", "maxtime")
    list_filter = ("status", "type")
    search_fields = ("name",)


@admin.register(StorageEndpoint)
class StorageEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "site", "type", "state", "is_tape")


@admin.register(ResourceType)
class ResourceTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "mincore", "maxcore", "minrampercore", "maxrampercore")
