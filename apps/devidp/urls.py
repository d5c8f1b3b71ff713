from django.urls import path

from apps.devidp import views

app_name = "devidp"

urlpatterns = [
    path("idp/.well-known/openid-configuration", views.configuration, name="configuration"),
    path("idp/jwk", views.jwk, name="jwk"),
    path("idp/authorize", views.authorize, name="authorize"),
    path("idp/token", views.token, name="token"),
    path("idp/devicecode", views.devicecode, name="devicecode"),
    path("idp/device", views.device, name="device"),
    path("idp/userinfo", views.userinfo, name="userinfo"),
    path("idp/logout", views.logout, name="logout"),
]
