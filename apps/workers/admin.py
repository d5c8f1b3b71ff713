"""Admin for site administrators: Harvester instances and slot targets; workers and commands to look at."""

from django import forms
from django.contrib import admin

from apps.sites.models import PandaQueue
from apps.workers.models import HarvesterCommand, HarvesterInstance, HarvesterSlots, Worker
from apps.workers.services.harvester import HarvesterDataError, harvester_id_check


class HarvesterInstanceForm(forms.ModelForm):
    class Meta:
        model = HarvesterInstance
        fields = ("harvester_id", "description", "owner", "hostname", "metadata")

    def clean_harvester_id(self):
        harvester_id = self.cleaned_data["harvester_id"].strip()
        try:
            return harvester_id_check(harvester_id)
        except HarvesterDataError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(HarvesterInstance)
class HarvesterInstanceAdmin(admin.ModelAdmin):
    form = HarvesterInstanceForm
    list_display = ("harvester_id", "hostname", "owner", "sw_version", "lastupdate")
    search_fields = ("harvester_id", "hostname", "owner")
    # What the instance itself reports in its heartbeat: editing it here would be overwritten.
    readonly_fields = ("sw_version", "commit_stamp", "starttime", "lastupdate")


class HarvesterSlotsForm(forms.ModelForm):
    class Meta:
        model = HarvesterSlots
        fields = ("pandaqueuename", "gshare", "resourcetype", "numslots", "expirationtime")

    def clean_numslots(self):
        numslots = self.cleaned_data["numslots"]
        if numslots < 0:
            raise forms.ValidationError("the number of slots cannot be negative")
        return numslots

    def clean_pandaqueuename(self):
        name = self.cleaned_data["pandaqueuename"].strip()
        if not PandaQueue.objects.filter(name=name).exists():
            raise forms.ValidationError(f"no PanDA queue named {name!r}")
        return name


@admin.register(HarvesterSlots)
class HarvesterSlotsAdmin(admin.ModelAdmin):
    form = HarvesterSlotsForm
    list_display = ("pandaqueuename", "gshare", "resourcetype", "numslots", "expirationtime")
    search_fields = ("pandaqueuename",)


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    """Workers are Harvester's records: listed for looking things up, changed only by Harvester."""

    list_display = ("harvesterid", "workerid", "status", "computingsite", "resourcetype", "lastupdate")
    list_filter = ("status",)
    search_fields = ("=workerid", "harvesterid", "computingsite", "batchid")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(HarvesterCommand)
class HarvesterCommandAdmin(admin.ModelAdmin):
    """Commands are queued by the server's services (one per name and instance); the admin only shows them."""

    list_display = ("command_id", "harvester_id", "command", "status", "creation_date", "status_date")
    list_filter = ("status", "command")
    search_fields = ("harvester_id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
