from django.contrib import admin

from apps.jobs.models import Job, JobFile, JobStatusLog


class JobFileInline(admin.TabularInline):
    model = JobFile
    extra = 0
    fields = ("type", "lfn", "scope", "dataset", "status", "fsize", "checksum", "guid")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("pandaid", "jobstatus", "computingsite", "prodsourcelabel", "jeditaskid", "currentpriority")
    list_filter = ("jobstatus", "prodsourcelabel")
    search_fields = ("=pandaid", "jobname", "produsername")
    inlines = [JobFileInline]
    show_full_result_count = False


@admin.register(JobStatusLog)
class JobStatusLogAdmin(admin.ModelAdmin):
    list_display = ("pandaid", "modificationtime", "oldstatus", "jobstatus", "computingsite")
    search_fields = ("=pandaid",)
