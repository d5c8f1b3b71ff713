from django.contrib import admin

from apps.devidp.models import DevAccount, DevClient


@admin.register(DevAccount)
class DevAccountAdmin(admin.ModelAdmin):
    list_display = ("username", "name", "email", "groups", "subject")
    search_fields = ("username", "name", "email")
    readonly_fields = ("subject",)


@admin.register(DevClient)
class DevClientAdmin(admin.ModelAdmin):
    """Secrets are set by ``manage.py devidp_setup`` (only their hash is stored), never typed in here."""

    list_display = ("client_id", "is_robot", "grant_types", "redirect_uris")
    readonly_fields = ("secret_hash",)
