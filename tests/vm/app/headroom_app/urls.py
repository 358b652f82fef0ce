from django.urls import path

from . import views

urlpatterns = [
    path('', views.front),
    path('heavy', views.heavy),
    path('health', views.health),
]
